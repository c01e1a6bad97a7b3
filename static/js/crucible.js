// Page behaviour that templates request with data attributes, since the
// Content-Security-Policy allows no inline event handlers (onclick=, onsubmit=...).
//   <form data-confirm="Delete this?">            asks before submitting
//   <select data-navigate-param="strategy">        reloads the page with ?strategy=<value>
(function () {
  "use strict";

  document.addEventListener("submit", function (event) {
    var form = event.target.closest ? event.target.closest("form[data-confirm]") : null;
    if (form && !window.confirm(form.dataset.confirm)) {
      event.preventDefault();
      event.stopImmediatePropagation();
    }
  }, true);

  document.addEventListener("change", function (event) {
    var select = event.target.closest ? event.target.closest("select[data-navigate-param]") : null;
    if (select) {
      var params = new URLSearchParams();
      params.set(select.dataset.navigateParam, select.value);
      window.location = "?" + params.toString();
    }
  });
})();
