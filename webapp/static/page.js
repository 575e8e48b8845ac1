// Behaviour every page shares, kept out of the HTML: the Content-Security-Policy runs no inline script or handler.
(function () {
  "use strict";
  // A secret shown once (a new token or password) is selected whole when its field gets the focus, to copy it.
  document.querySelectorAll("[data-select-on-focus]").forEach((field) => {
    field.addEventListener("focus", () => field.select());
  });
})();
