/* A multipart form marked data-upload-progress sends its files with a progress bar: the same POST
 * the form makes without JavaScript, through XMLHttpRequest so that upload progress can be shown.
 * On success the browser goes where the server redirected; on an error the page the server answered
 * (the form with its errors) replaces this one. */
(function () {
  "use strict";
  document.querySelectorAll("form[data-upload-progress]").forEach(function (form) {
    form.addEventListener("submit", function (event) {
      const bar = form.querySelector("[data-progress]");
      const text = form.querySelector("[data-progress-text]");
      if (!window.FormData || !bar) return;
      event.preventDefault();
      const button = form.querySelector("button[type=submit]");
      if (button) button.disabled = true;
      bar.hidden = false;
      const request = new XMLHttpRequest();
      request.open("POST", form.action);
      request.upload.onprogress = function (e) {
        if (!e.lengthComputable) return;
        bar.value = Math.round((100 * e.loaded) / e.total);
        text.textContent = bar.value + " %";
      };
      request.upload.onload = function () { text.textContent = text.dataset.done || "Checking…"; };
      request.onload = function () {
        if (request.status < 400 && request.responseURL) {
          window.location.assign(request.responseURL);
          return;
        }
        const page = new DOMParser().parseFromString(request.responseText, "text/html");
        const fresh = page.querySelector("form[data-upload-progress]");
        if (fresh) {
          form.innerHTML = fresh.innerHTML;
        } else {
          text.textContent = "The upload failed (" + request.status + ").";
        }
        if (button) button.disabled = false;
      };
      request.onerror = function () {
        text.textContent = "The connection was lost; try again.";
        if (button) button.disabled = false;
      };
      request.send(new FormData(form));
    });
  });
})();
