from .api import urlpatterns as api_urls
from .compat import urlpatterns as compat_urls
from .hf import urlpatterns as hf_urls
from .hf_write import urlpatterns as hf_write_urls
from .pages import urlpatterns as page_urls

app_name = "hub"
# hub-api.md facades, the clean API under /api/v1/hub/, pages under /hub/, and the
# Hugging Face compatible routes last (their /<owner>/<name>/resolve/... paths are the widest).
urlpatterns = compat_urls + api_urls + page_urls + hf_write_urls + hf_urls
