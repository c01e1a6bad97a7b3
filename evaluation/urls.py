from .api import urlpatterns as api_urls
from .compat import urlpatterns as compat_urls
from .pages import urlpatterns as page_urls

app_name = "evaluation"
# platform-api.md section 7, the clean API under /api/v1/evaluation/, the pages under /evaluation/.
urlpatterns = compat_urls + api_urls + page_urls
