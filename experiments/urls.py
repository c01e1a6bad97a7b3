from .api import urlpatterns as api_urls
from .compat import urlpatterns as compat_urls
from .pages import urlpatterns as page_urls

app_name = "experiments"
# Spec facade at the root (/set_parameters ...), the clean API under /api/v1/experiments/, pages under /experiments/.
urlpatterns = compat_urls + api_urls + page_urls
