app_name = "serving"
urlpatterns = []
