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

  // Any card as a PNG, made on the device: the card's SVG (its glyphs are inside it, an
  // image cannot fetch fonts) drawn into a 1080x1920 canvas. Share sends that file
  // with the Web Share API; Download image saves it. Where the canvas cannot be read
  // (file:// pages), both fall back to the server's summary.png link.
  function cardPng(i) {
    var img = cards[i].querySelector("img");
    var name = download.getAttribute("data-name") + "-" +
      img.getAttribute("src").replace(/\.svg$/, "") + ".png";
    return new Promise(function (resolve, reject) {
      function draw() {
        try {
          var canvas = document.createElement("canvas");
          canvas.width = 1080; canvas.height = 1920;
          var ctx = canvas.getContext("2d");
          ctx.fillStyle = "#121212";
          ctx.fillRect(0, 0, canvas.width, canvas.height);
          ctx.drawImage(img, 0, 0, canvas.width, canvas.height);
          canvas.toBlob(function (blob) {
            if (blob) { resolve(new File([blob], name, { type: "image/png" })); }
            else { reject(new Error("no image")); }
          }, "image/png");
        } catch (err) { reject(err); }
      }
      if (img.complete && img.naturalWidth) { draw(); return; }
      img.addEventListener("load", draw, { once: true });
      img.addEventListener("error", function () { reject(new Error("card not loaded")); }, { once: true });
      img.loading = "eager";
    });
  }
  function save(file) {
    var url = URL.createObjectURL(file);
    var a = document.createElement("a");
    a.href = url; a.download = file.name; a.hidden = true;
    document.body.appendChild(a); a.click(); a.remove();
    setTimeout(function () { URL.revokeObjectURL(url); }, 30000);
  }
  function serverImage() {
    var a = document.createElement("a");
    a.href = download.getAttribute("href"); a.download = download.getAttribute("download"); a.hidden = true;
    document.body.appendChild(a); a.click(); a.remove();
  }
  function downloadCard() { cardPng(current).then(save, serverImage); }

  download.addEventListener("click", function (e) { e.preventDefault(); downloadCard(); });
  share.addEventListener("click", function () {
    if (!navigator.share) { downloadCard(); return; }
    var data = { title: share.getAttribute("data-title"), text: share.getAttribute("data-text") };
    var url = share.getAttribute("data-url");
    if (url) { data.url = url; }
    cardPng(current).then(function (file) {
      return (navigator.canShare && navigator.canShare({ files: [file] }))
        ? Object.assign({ files: [file] }, data) : data;
    }, function () { return data; })
      .then(function (d) { return navigator.share(d); })
      .catch(function (err) { if (!err || err.name !== "AbortError") { downloadCard(); } });
  });

  document.documentElement.className = "js";
  show(0);
})();
