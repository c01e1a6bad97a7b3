from .compat import urlpatterns as compat_urls

app_name = "images"
urlpatterns = compat_urls
