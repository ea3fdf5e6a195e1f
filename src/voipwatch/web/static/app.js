// Draws every chart of the page from the Vega-Lite spec beside it (a JSON data
// block), with the bundled Vega-Embed. No inline script: the page's CSP forbids it.
(function () {
  "use strict";

  function draw(target) {
    var block = document.getElementById(target.getAttribute("data-spec"));
    if (!block || !window.vegaEmbed) {
      return;
    }
    var spec = JSON.parse(block.textContent);
    var options = {
      renderer: "svg",
      actions: false,
      // The expression interpreter instead of code generation: no eval, so the
      // Content-Security-Policy needs no 'unsafe-eval'.
      ast: true,
      defaultStyle: false,
      tooltip: { disableDefaultStyle: true },
    };
    window
      .vegaEmbed(target, spec, options)
      .then(function () {
        target.setAttribute("data-rendered", "true");
      })
      .catch(function (err) {
        target.setAttribute("data-error", String(err));
        target.textContent = "This chart could not be drawn (" + err + "). Its data is in the links below.";
      });
  }

  function drawAll() {
    var targets = document.querySelectorAll("[data-spec]");
    for (var i = 0; i < targets.length; i++) {
      draw(targets[i]);
    }
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", drawAll);
  } else {
    drawAll();
  }
})();
