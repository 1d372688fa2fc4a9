"""Accounts: Django's own login and logout views, and a sign-up page.

django.contrib.auth.urls gives accounts/login/ and accounts/logout/ (and the password
change and reset pages) the names "login" and "logout" that the templates and settings use.
"""

from django.urls import include, path

from . import views

urlpatterns = [
    path("signup/", views.signup, name="signup"),
    path("", include("django.contrib.auth.urls")),
]
