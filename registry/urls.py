from .compat import urlpatterns as compat_urls

app_name = "registry"
urlpatterns = compat_urls
