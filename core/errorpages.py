"""The site's own error pages (templates/404.html, 403.html, 500.html), in every configuration.

With DEBUG off Django renders them itself. With DEBUG on (the development default, bin/up) it
answers an unknown page with its technical 404, which lists every URL pattern of the project:
`FriendlyNotFoundMiddleware` puts the site's page in its place. APIs answer JSON 404s and are
left alone; tracebacks of 500s in DEBUG stay, for the developer at the console.
"""

from django.conf import settings
from django.views.defaults import page_not_found


class FriendlyNotFoundMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if (
            settings.DEBUG
            and response.status_code == 404
            and response.get("Content-Type", "").startswith("text/html")
        ):
            return page_not_found(request, None)
        return response
