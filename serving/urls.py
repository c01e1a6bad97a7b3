from .api import urlpatterns as api_urls
from .compat import urlpatterns as compat_urls
from .pages import urlpatterns as page_urls

app_name = "serving"
urlpatterns = compat_urls + api_urls + page_urls
