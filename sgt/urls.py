from .compat import urlpatterns as compat_urls
from .pages import urlpatterns as page_urls

app_name = "sgt"
# The SGT contract under /sgt/public/ and the web pages under /sgt/.
urlpatterns = compat_urls + page_urls
