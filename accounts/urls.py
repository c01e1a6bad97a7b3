from .api import urlpatterns as api_urls
from .compat import urlpatterns as compat_urls
from .pages import urlpatterns as page_urls

app_name = "accounts"
# Spec facades (hub, chat, SGT, platform quota paths), the clean API under /api/v1/, and pages.
urlpatterns = compat_urls + api_urls + page_urls
