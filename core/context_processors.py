"""What every page's layout needs to know about the site."""

from django.conf import settings


def site(request):
    """`registration_open`: whether the navigation offers "Register" (not when REGISTRATION is closed)."""
    return {"registration_open": settings.REGISTRATION != "closed"}
