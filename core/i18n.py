"""Pages in the user's language, API answers unchanged.

`PageLocaleMiddleware` is Django's `LocaleMiddleware` (language from the switcher's cookie,
else the browser's Accept-Language, else LANGUAGE_CODE; no URL prefixes, so no redirects)
for the site's pages only. A view that answers an API (a DRF view: the spec facades and the
clean API; the OpenAI-compatible and Hugging Face routes; /healthz, /metrics) runs in
LANGUAGE_CODE and its response gets no Content-Language, so the specs' envelopes, DRF's
own messages and every field read the same whatever the client's Accept-Language.

Pages are the views of each app's `pages` module, the home page, the admin and Django's
own i18n views (set_language, the JavaScript catalog); an unresolved path (404) is a page,
except under /api/ and /v1/.
The spec values pages show (an image status "成功", a run time "54分41秒") are mapped for
display by `core.templatetags.crucible_i18n`.
"""

from django.conf import settings
from django.middleware.locale import LocaleMiddleware
from django.utils import translation

PAGE_MODULE_SUFFIXES = (".pages", ".admin")
PAGE_MODULES = ("core.views", "django.contrib.admin", "django.contrib.auth", "django.views.i18n")
API_VIEW_NAMES = {("core.views", "healthz")}
API_PATH_PREFIXES = ("/api/", "/v1/")


def is_page_view(view_func):
    if getattr(view_func, "cls", None) is not None:  # DRF (APIView.as_view, @api_view)
        return False
    module = getattr(view_func, "__module__", "") or ""
    if (module, getattr(view_func, "__name__", "")) in API_VIEW_NAMES:
        return False
    return module.endswith(PAGE_MODULE_SUFFIXES) or module.startswith(PAGE_MODULES)


class PageLocaleMiddleware(LocaleMiddleware):
    def process_request(self, request):
        if request.path_info.startswith(API_PATH_PREFIXES):
            self._api(request)  # the busiest routes (/v1/) skip reading Accept-Language and the cookie
        else:
            super().process_request(request)

    def process_view(self, request, view_func, view_args, view_kwargs):
        if not is_page_view(view_func):
            self._api(request)
        return None

    @staticmethod
    def _api(request):
        request.crucible_api = True
        translation.activate(settings.LANGUAGE_CODE)
        request.LANGUAGE_CODE = translation.get_language()

    def process_response(self, request, response):
        if getattr(request, "crucible_api", False):
            return response
        return super().process_response(request, response)
