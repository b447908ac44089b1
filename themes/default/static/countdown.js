/* xacthuc — OTP resend countdown. Progressive enhancement: without this script the resend
   button is simply enabled and the server refuses an early resend with a message.
   Markup: <p data-countdown="SECONDS" data-countdown-for="BUTTON_ID">… <span data-countdown-value>…</span> …</p>
   While the countdown runs the button is disabled; at 0 it is enabled and the text hidden. */
(function () {
  "use strict";

  function start(el) {
    var button = document.getElementById(el.getAttribute("data-countdown-for") || "");
    var value = el.querySelector("[data-countdown-value]");
    var seconds = parseInt(el.getAttribute("data-countdown"), 10);
    if (!button) {
      return;
    }
    // Measure against the clock, not the number of ticks: timers are throttled in background tabs.
    var deadline = Date.now() + (isFinite(seconds) && seconds > 0 ? seconds : 0) * 1000;
    var timer = null;

    function finish() {
      if (timer !== null) {
        window.clearInterval(timer);
        timer = null;
      }
      button.disabled = false;
      el.hidden = true;
      var described = (button.getAttribute("aria-describedby") || "").split(/\s+/).filter(function (id) {
        return id && id !== el.id;
      });
      if (described.length) {
        button.setAttribute("aria-describedby", described.join(" "));
      } else {
        button.removeAttribute("aria-describedby");
      }
    }

    function tick() {
      var left = Math.ceil((deadline - Date.now()) / 1000);
      if (left <= 0) {
        finish();
        return;
      }
      if (value && value.textContent !== String(left)) {
        value.textContent = String(left);
      }
    }

    if (deadline <= Date.now()) {
      finish();
      return;
    }
    button.disabled = true;
    tick();
    timer = window.setInterval(tick, 500);
  }

  function init() {
    var els = document.querySelectorAll("[data-countdown]");
    for (var i = 0; i < els.length; i++) {
      start(els[i]);
    }
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", init);
  } else {
    init();
  }
})();
