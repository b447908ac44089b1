/* xacthuc — waiting for a push signature (SIM ký số, Chữ ký số cá nhân). Progressive
   enhancement: without this script the page shows the code and the countdown as text, and
   "Kiểm tra lại" posts the form, which asks again.
   Markup: <div id="push-pending" data-poll-url data-poll-every data-expires-in> with
   [data-push-left], #push-progress, #push-status, #push-failed and #push-form (#push-check,
   #push-cancel).
   The poll URL answers {"status": "pending" | "ready" | "failed", "message"?}: on "ready" the
   form is posted (the server finishes the login); on "failed" the reason is shown and the form
   hidden (the login has ended; the link back to the login page stays). */
(function () {
  "use strict";

  function init() {
    var box = document.getElementById("push-pending");
    if (!box) {
      return;
    }
    var pollUrl = box.getAttribute("data-poll-url");
    var every = parseInt(box.getAttribute("data-poll-every"), 10);
    var expiresIn = parseInt(box.getAttribute("data-expires-in"), 10);
    var left = box.querySelector("[data-push-left]");
    var progress = document.getElementById("push-progress");
    var status = document.getElementById("push-status");
    var failed = document.getElementById("push-failed");
    var form = document.getElementById("push-form");
    var check = document.getElementById("push-check");
    if (!isFinite(every) || every < 500) {
      every = 2000;
    }
    // Measure against the clock, not the number of ticks: timers are throttled in background tabs.
    var deadline = Date.now() + (isFinite(expiresIn) && expiresIn > 0 ? expiresIn : 0) * 1000;
    var done = false;
    var submitting = false;
    if (status) {
      status.hidden = false;
    }

    function tick() {
      var seconds = Math.max(0, Math.ceil((deadline - Date.now()) / 1000));
      if (left && left.textContent !== String(seconds)) {
        left.textContent = String(seconds);
      }
      if (progress) {
        progress.value = seconds;
      }
      return seconds;
    }

    function finish(message) {
      done = true;
      if (failed && message) {
        failed.textContent = message;
        failed.hidden = false;
      }
      if (status) {
        status.hidden = true;
      }
      if (form) {
        form.hidden = true;
      }
    }

    function submitForm() {
      if (submitting || !form || !check) {
        return;
      }
      submitting = true;
      done = true;
      // Click the "check" button so the form posts without "cancel".
      check.click();
    }

    form &&
      form.addEventListener("submit", function () {
        submitting = true;
        done = true;
      });

    function poll() {
      if (done) {
        return;
      }
      fetch(pollUrl, { credentials: "same-origin", headers: { Accept: "application/json" } })
        .then(function (r) {
          return r.json();
        })
        .then(function (answer) {
          if (done) {
            return;
          }
          if (answer.status === "ready") {
            submitForm();
          } else if (answer.status === "failed") {
            finish(answer.message || "");
          } else {
            window.setTimeout(poll, every);
          }
        })
        .catch(function () {
          // A network blip: ask again, until the request expires.
          if (!done) {
            window.setTimeout(poll, every);
          }
        });
    }

    var timer = window.setInterval(function () {
      if (tick() <= 0) {
        window.clearInterval(timer);
        // The server decides: one more look tells whether it was signed at the last moment.
        if (!done) {
          submitForm();
        }
      }
    }, 500);
    tick();
    window.setTimeout(poll, every);
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", init);
  } else {
    init();
  }
})();
