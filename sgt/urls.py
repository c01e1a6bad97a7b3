app_name = "sgt"
urlpatterns = []
