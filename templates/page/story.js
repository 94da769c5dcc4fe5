// The recap story: one card at a time; tap (left third = back), arrow keys, swipe.
// Static code only: no user data is ever put in a script (the page's CSP allows just
// this script, by hash), and nothing is fetched from another host.
(function () {
  "use strict";
  var cards = Array.prototype.slice.call(document.querySelectorAll(".card"));
  var bars = Array.prototype.slice.call(document.querySelectorAll(".progress span"));
  var story = document.querySelector(".story");
  var prev = document.querySelector(".nav.prev");
  var next = document.querySelector(".nav.next");
  var status = document.getElementById("status");
  var share = document.getElementById("share");
  var download = document.getElementById("download");
  var current = 0;

  function show(i) {
    if (i < 0 || i >= cards.length) { return; }
    cards.forEach(function (card, k) { card.hidden = k !== i; });
    current = i;
    bars.forEach(function (bar, k) { bar.className = k <= i ? "seen" : ""; });
    prev.disabled = i === 0;
    next.disabled = i === cards.length - 1;
    document.body.setAttribute("data-card", String(i + 1));
    status.textContent = cards[i].getAttribute("aria-label");
  }
  function step(delta) { show(Math.max(0, Math.min(cards.length - 1, current + delta))); }

  prev.addEventListener("click", function (e) { e.stopPropagation(); step(-1); });
  next.addEventListener("click", function (e) { e.stopPropagation(); step(1); });
  story.addEventListener("click", function (e) {
    var box = story.getBoundingClientRect();
    step(e.clientX - box.left < box.width / 3 ? -1 : 1);
  });
  document.addEventListener("keydown", function (e) {
    if (e.altKey || e.ctrlKey || e.metaKey) { return; }
    if (e.key === "ArrowRight" || e.key === "PageDown") { step(1); e.preventDefault(); }
    else if (e.key === "ArrowLeft" || e.key === "PageUp") { step(-1); e.preventDefault(); }
    else if (e.key === "Home") { show(0); e.preventDefault(); }
    else if (e.key === "End") { show(cards.length - 1); e.preventDefault(); }
  });
  var startX = null, startY = null;
  story.addEventListener("touchstart", function (e) {
    startX = e.changedTouches[0].clientX; startY = e.changedTouches[0].clientY;
  }, { passive: true });
  story.addEventListener("touchend", function (e) {
    if (startX === null) { return; }
    var dx = e.changedTouches[0].clientX - startX, dy = e.changedTouches[0].clientY - startY;
    startX = null;
    if (Math.abs(dx) > 40 && Math.abs(dx) > Math.abs(dy)) { step(dx < 0 ? 1 : -1); e.preventDefault(); }
  });

  // Share: the Web Share API (with the summary image when the browser can share files),
  // falling back to downloading the image.
  function fallback() { if (download) { download.click(); } }
  share.addEventListener("click", function () {
    if (!navigator.share) { fallback(); return; }
    var data = { title: share.getAttribute("data-title"), text: share.getAttribute("data-text") };
    var url = share.getAttribute("data-url");
    if (url) { data.url = url; }
    var withFile = (download && window.fetch && navigator.canShare && location.protocol !== "file:")
      ? fetch(download.getAttribute("href")).then(function (r) { return r.ok ? r.blob() : null; })
          .then(function (blob) {
            if (!blob) { return data; }
            var file = new File([blob], download.getAttribute("download"), { type: "image/png" });
            return navigator.canShare({ files: [file] }) ? Object.assign({ files: [file] }, data) : data;
          }, function () { return data; })
      : Promise.resolve(data);
    withFile.then(function (d) { return navigator.share(d); }).catch(function (err) {
      if (!err || err.name !== "AbortError") { fallback(); }
    });
  });

  document.documentElement.className = "js";
  show(0);
})();
