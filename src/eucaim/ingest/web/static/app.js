// Progressive enhancement: the transfer page works without this script (Refresh link); with it,
// the numbers update every second from /transfer/progress, and the page reloads once the run ends.
(function () {
  "use strict";
  function text(id, value) {
    var el = document.getElementById(id);
    if (el && value !== undefined) { el.textContent = value; }
  }
  function start(section) {
    var url = section.getAttribute("data-poll");
    var timer = setInterval(function () {
      fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
        .then(function (r) { return r.json(); })
        .then(function (snap) {
          var bar = document.getElementById("bar");
          if (bar) { bar.max = snap.total || 1; bar.value = snap.verified; }
          var d = section.dataset;
          function fill(template, values) {
            return Object.keys(values).reduce(function (s, k) { return s.replace("{" + k + "}", values[k]); }, template);
          }
          text("verified-line", fill(d.nOfN, { done: snap.verified, total: snap.total }));
          Object.keys(snap.counts).forEach(function (state) {
            var el = document.querySelector('[data-state="' + state + '"]');
            if (el) { el.textContent = snap.counts[state]; }
          });
          var job = snap.job;
          if (job) {
            text("sent-line", fill(d.sent, { done: job.sent_items, total: job.total_items }));
            text("mb-line", fill(d.mb, { mb: job.mb, total_mb: job.total_mb }));
            text("rate-line", fill(d.rate, { rate: job.rate }));
            text("left-line", job.seconds_left === null ? "" : fill(d.left, { seconds: job.seconds_left }));
            if (job.status !== "running") { clearInterval(timer); window.location.reload(); }
          }
        })
        .catch(function () { /* the next tick tries again; the Refresh link still works */ });
    }, 1000);
  }
  // Any other page while a long operation runs (a folder being indexed, studies being retrieved):
  // reload once it ends, so the page shows its outcome.
  function watchJob(badge) {
    var timer = setInterval(function () {
      fetch(badge.getAttribute("data-poll-job"), { credentials: "same-origin" })
        .then(function (r) { return r.json(); })
        .then(function (job) {
          if (job.status !== "running") { clearInterval(timer); window.location.reload(); }
        })
        .catch(function () { /* try again at the next tick */ });
    }, 1000);
  }
  document.addEventListener("DOMContentLoaded", function () {
    var section = document.querySelector("[data-poll]");
    if (section) { start(section); }
    var badge = document.querySelector("[data-poll-job]");
    if (badge) { watchJob(badge); }
  });
})();

// Sign in with the node: the waiting page reloads once the device sign-in is approved or refused
// (the reload opens the session, or shows the refusal next to the button). A running job's
// progress line ([data-job-progress]) is kept up to date from /job.
(function () {
  "use strict";
  function poll(url, every, onAnswer) {
    var timer = setInterval(function () {
      fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
        .then(function (r) { return r.json(); })
        .then(function (answer) { if (onAnswer(answer)) { clearInterval(timer); } })
        .catch(function () { /* the next tick tries again; the page's link still works */ });
    }, every);
  }
  document.addEventListener("DOMContentLoaded", function () {
    var signin = document.querySelector("[data-poll-signin]");
    if (signin) {
      var seen = signin.getAttribute("data-status");
      poll(signin.getAttribute("data-poll-signin"), 1000, function (state) {
        if (state.status !== seen) { window.location.reload(); return true; }
        return false;
      });
    }
    var line = document.querySelector("[data-job-progress]");
    if (line) {
      poll("/job", 1000, function (job) {
        if (job.progress) { line.textContent = job.progress; }
        return job.status !== "running";
      });
    }
  });
})();

// Sources step: the PACS search/retrieve counts ([data-poll-pacs]) and the receiver's live count
// ([data-poll-receiver]) update every second; the header's job badge reloads the page when a job ends.
(function () {
  "use strict";
  function fill(template, values) {
    return Object.keys(values).reduce(function (s, k) { return s.replace("{" + k + "}", values[k]); }, template);
  }
  function set(id, value) {
    var el = document.getElementById(id);
    if (el) { el.textContent = value; }
  }
  function every(url, onAnswer) {
    var timer = setInterval(function () {
      fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
        .then(function (r) { return r.json(); })
        .then(function (answer) { if (onAnswer(answer)) { clearInterval(timer); } })
        .catch(function () { /* the next tick tries again */ });
    }, 1000);
  }
  document.addEventListener("DOMContentLoaded", function () {
    var pacs = document.querySelector("[data-poll-pacs]");
    if (pacs) {
      var p = pacs.dataset;
      every(pacs.getAttribute("data-poll-pacs"), function (job) {
        if (!job.kind) { return true; }
        set("pacs-queries", fill(p.queries, { done: job.queries[0], total: job.queries[1] }));
        set("pacs-studies", fill(p.studies, { done: job.studies[0], total: job.studies[1] }));
        set("pacs-instances", job.expected ? fill(p.instancesOf, { n: job.instances, expected: job.expected })
          : fill(p.instances, { n: job.instances }));
        set("pacs-rate", fill(p.rate, { rate: job.rate }));
        // A search beside a transfer has no header badge to reload the page: reload here.
        if (job.status !== "running") { window.location.reload(); return true; }
        return false;
      });
    }
    var rx = document.querySelector("[data-poll-receiver]");
    if (rx) {
      var r = rx.dataset;
      every(rx.getAttribute("data-poll-receiver"), function (s) {
        if (!s.running) { window.location.reload(); return true; }
        set("receiver-count", fill(r.counts, s));
        set("receiver-extra", fill(r.extra, s));
        set("receiver-rate", fill(r.rate, s));
        return false;
      });
    }
  });
})();

// Transfer step: a run that starts or stops waiting for its time window redraws the page, so the
// status line says so (the window wait begins only once the first batch is ready to send).
(function () {
  "use strict";
  document.addEventListener("DOMContentLoaded", function () {
    var section = document.querySelector("[data-poll][data-waiting-shown]");
    if (!section) { return; }
    var shown = section.getAttribute("data-waiting-shown") === "1";
    var timer = setInterval(function () {
      fetch(section.getAttribute("data-poll"), { credentials: "same-origin", headers: { Accept: "application/json" } })
        .then(function (r) { return r.json(); })
        .then(function (snap) {
          var job = snap.job;
          if (!job || job.status !== "running") { clearInterval(timer); return; }
          if (Boolean(job.waiting_until) !== shown) { clearInterval(timer); window.location.reload(); }
        })
        .catch(function () { /* the next tick tries again */ });
    }, 1000);
  });
})();
