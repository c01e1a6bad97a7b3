from .compat import urlpatterns as compat_urls
from .pages import urlpatterns as page_urls

app_name = "images"
urlpatterns = compat_urls + page_urls
