"""Signing up: Django ships the views for logging in and out, but not one for making an account."""

from django.contrib.auth import login
from django.contrib.auth.forms import UserCreationForm
from django.shortcuts import redirect, render


def signup(request):
    """Make an account with Django's own form, and log its new owner in at once."""
    if request.method == "POST":
        form = UserCreationForm(request.POST)
        if form.is_valid():
            user = form.save()
            login(request, user)
            return redirect("chat:index")
    else:
        form = UserCreationForm()
    return render(request, "registration/signup.html", {"form": form})
