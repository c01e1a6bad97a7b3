"""URL wiring only: each app owns its paths (spec facades, clean API under /api/v1/, pages)."""

from django.contrib import admin
from django.urls import include, path
from django.views.i18n import JavaScriptCatalog
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from core import metrics
from core import views as core_views

APPS = ["accounts", "hub", "registry", "files", "images", "training", "evaluation", "serving", "sgt", "chat", "experiments"]
# Resolved first: serving's paths all start with their own prefix (v1/, model/modelServer/,
# serving/, api/v1/serving/), and /v1/ is the busiest route. (APPS keeps the apps' order for seeds.)
FIRST = "serving"

urlpatterns = [
    path("", core_views.home, name="home"),
    path("healthz", core_views.healthz, name="healthz"),
    path("metrics", metrics.metrics_view, name="metrics"),
    path("admin/", admin.site.urls),
    # The language switcher posts to /i18n/setlang/ (a cookie; no language prefix on any URL),
    # and scripts read their translated strings from /i18n/js/ (gettext in static/js/*.js).
    path("i18n/", include("django.conf.urls.i18n")),
    path("i18n/js/", JavaScriptCatalog.as_view(), name="javascript-catalog"),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="swagger-ui"),
    path("", include("core.urls")),
] + [path("", include(f"{name}.urls")) for name in [FIRST, *(app for app in APPS if app != FIRST)]]

# MEDIA_URL is never served as a folder, in any mode: stored files (hub blobs, file spaces,
# SGT weights, run videos) go out only through views that check the requester's right.
# Avatars, which are public, have their own view (accounts.pages.avatar_file).
