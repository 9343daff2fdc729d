// Live delivery log and delivery page: while the region marked data-live="pending" shows a
// pending delivery, fetch this same page again (same route, same sign-in and tenant check,
// no new endpoint) and swap the region in. Every 2 s while it changes, slowing to 15 s while it
// does not, paused in a hidden tab, and stopped when nothing shown is pending or after 15
// minutes. Without JavaScript the page is the same, reloaded by hand.
(function () {
  "use strict";
  var region = document.querySelector("[data-live]");
  if (!region || !window.fetch || !window.DOMParser) {
    return;
  }
  var FAST = 2000;
  var SLOW = 15000;
  var LIMIT = 15 * 60 * 1000;
  var started = Date.now();
  var delay = FAST;

  function refresh() {
    if (region.getAttribute("data-live") !== "pending" || Date.now() - started > LIMIT) {
      return;
    }
    if (document.hidden) {
      window.setTimeout(refresh, delay);
      return;
    }
    window
      .fetch(window.location.href, { credentials: "same-origin", cache: "no-store" })
      .then(function (response) {
        if (!response.ok) {
          throw new Error("HTTP " + response.status);
        }
        return response.text();
      })
      .then(function (html) {
        var page = new window.DOMParser().parseFromString(html, "text/html");
        var fresh = page.querySelector("[data-live]");
        if (!fresh) {
          return;
        }
        if (fresh.innerHTML !== region.innerHTML) {
          region.innerHTML = fresh.innerHTML;
          delay = FAST;
        } else {
          delay = Math.min(delay * 1.5, SLOW);
        }
        region.setAttribute("data-live", fresh.getAttribute("data-live") || "settled");
      })
      .catch(function () {
        delay = SLOW;
      })
      .then(function () {
        window.setTimeout(refresh, delay);
      });
  }

  window.setTimeout(refresh, delay);
})();
