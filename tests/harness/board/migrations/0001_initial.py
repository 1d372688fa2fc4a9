from django.db import migrations, models


class Migration(migrations.Migration):
    initial = True

    dependencies = []

    operations = [
        migrations.CreateModel(
            name="Report",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("name", models.CharField(max_length=40)),
                ("stage", models.CharField(max_length=40)),
                ("passed", models.PositiveIntegerField()),
                ("failed", models.PositiveIntegerField()),
                ("failing_check", models.CharField(blank=True, max_length=120)),
                ("message", models.CharField(blank=True, max_length=200)),
                ("received", models.DateTimeField(auto_now_add=True, db_index=True)),
            ],
            options={"ordering": ["received", "id"]},
        ),
    ]
