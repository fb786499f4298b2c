// The audience upload with a progress bar: the same form, sent by XMLHttpRequest so that the
// bytes sent can be shown; the server's answer (the same page, with the summary or the error)
// then replaces the page's main content. Without this script the form posts as usual.
(function () {
  "use strict";

  function enhance() {
    var form = document.getElementById("audience-form");
    if (!form || !window.FormData || !window.DOMParser) {
      return;
    }
    var box = form.querySelector(".progress");
    var bar = document.getElementById("audience-progress");
    var status = document.getElementById("audience-status");

    form.addEventListener("submit", function (event) {
      event.preventDefault();
      var xhr = new XMLHttpRequest();
      xhr.open("POST", form.action);
      xhr.upload.onprogress = function (e) {
        if (e.lengthComputable) {
          bar.max = e.total;
          bar.value = e.loaded;
          status.textContent = Math.round((100 * e.loaded) / e.total) + "% sent";
        }
      };
      xhr.upload.onload = function () {
        status.textContent = "Sent; reading the addresses…";
      };
      xhr.onload = function () {
        var page = new DOMParser().parseFromString(xhr.responseText, "text/html");
        var main = page.getElementById("main");
        if (!main) {
          status.textContent = "The upload was refused (" + xhr.status + "). Reload the page " +
            "and try again.";
          return;
        }
        document.getElementById("main").replaceWith(main);
        enhance();
        var shown = document.getElementById("audience-summary") ||
          document.querySelector("#audience .error");
        if (shown) {
          shown.setAttribute("tabindex", "-1");
          shown.focus();
        }
      };
      xhr.onerror = function () {
        status.textContent = "The upload did not reach the service. Try again.";
      };
      box.hidden = false;
      bar.value = 0;
      status.textContent = "Uploading…";
      xhr.send(new FormData(form));
    });
  }

  enhance();
})();
