from .api import urlpatterns as api_urls
from .compat import urlpatterns as compat_urls
from .pages import urlpatterns as page_urls

app_name = "files"
# platform-api.md 1.1/1.2 facades, the clean API under /api/v1/files/, and the file-space pages.
urlpatterns = compat_urls + api_urls + page_urls
