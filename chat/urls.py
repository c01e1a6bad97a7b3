from .compat import urlpatterns as compat_urls
from .pages import urlpatterns as page_urls

app_name = "chat"
# chat-api.md under /myapp/, the web pages under /chat/.
urlpatterns = compat_urls + page_urls
