// certwarden UI: the only script. Everything works without it; it only asks
// "are you sure?" before destructive forms (those the server also confirms
// say data-confirm-field, and a yes here skips the server's confirmation page) and lets a filter <select> apply itself.
(function () {
  "use strict";
  document.addEventListener("submit", function (event) {
    var form = event.target;
    var question = form && form.getAttribute("data-confirm");
    if (!question) {
      return;
    }
    // Only when a given box is ticked (turning Common Criteria mode on).
    var onlyIf = form.getAttribute("data-confirm-on");
    var box = onlyIf && document.getElementById(onlyIf);
    if (onlyIf && !(box && box.checked)) {
      return;
    }
    if (!window.confirm(question)) {
      event.preventDefault();
      return;
    }
    // Confirmed here: the server's own confirmation page is skipped.
    var name = form.getAttribute("data-confirm-field");
    if (name && !form.querySelector('input[name="' + name + '"]')) {
      var input = document.createElement("input");
      input.type = "hidden";
      input.name = name;
      input.value = "yes";
      form.appendChild(input);
    }
  });
  document.addEventListener("change", function (event) {
    var el = event.target;
    if (el && el.hasAttribute && el.hasAttribute("data-autosubmit") && el.form) {
      el.form.submit();
    }
  });
})();
