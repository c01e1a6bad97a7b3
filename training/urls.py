from .api import urlpatterns as api_urls
from .compat import urlpatterns as compat_urls
from .pages import urlpatterns as page_urls

app_name = "training"
# platform-api.md sections 4-6 under /kernel/, the clean API under /api/v1/training/, the pages.
urlpatterns = compat_urls + api_urls + page_urls
