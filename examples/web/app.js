// The example onboarding flow: a sign-up form, then a first-use checklist. Every call below is one that
// Onramp's tracking plan (tracking_plan/) declares; see docs/events.md for the snippet on its own.
(function () {
  "use strict";
  var onramp = window.onramp;
  var query = new URLSearchParams(location.search);

  document.getElementById("sdk-badge").textContent = onramp.sdk + " / " + onramp.delivery;
  document.getElementById("sdk-name").textContent = onramp.sdk;
  document.getElementById("collector-url").textContent = onramp.collectorUrl;

  function randomId(prefix) {
    var bytes = new Uint8Array(8);
    crypto.getRandomValues(bytes);
    return prefix + Array.prototype.map.call(bytes, function (b) { return b.toString(16).padStart(2, "0"); }).join("");
  }

  // acquisition channel, in the tracking plan's words
  function signupSource() {
    var medium = (query.get("utm_medium") || "").toLowerCase();
    if (query.get("ref")) return "referral";
    if (medium === "cpc" || medium === "ppc" || medium === "paid_search") return "paid_search";
    if (medium === "paid_social") return "paid_social";
    if (medium === "email" || medium === "content") return "content";
    if (query.get("invite")) return "invite";
    return "organic";
  }

  onramp.page("Sign up", { path: location.pathname });
  onramp.track("signup_started", { signup_source: signupSource(), method: "email" });

  document.getElementById("signup-form").addEventListener("submit", function (event) {
    event.preventDefault();
    var form = new FormData(event.target);
    var filled = [];
    form.forEach(function (value, name) { if (String(value).trim()) filled.push(name); });
    onramp.track("form_filled", { form: "signup", fields: filled });   // field names, never their values

    var userId = randomId("web-");
    var workspaceId = randomId("ws-");
    onramp.identify(userId, { plan: "free", role: form.get("role") || null, team_size: form.get("team_size") || null });
    onramp.track("signup_completed", { plan: "free", workspace_id: workspaceId, signup_source: signupSource() });

    document.getElementById("first-name").textContent = String(form.get("full_name")).split(" ")[0];
    document.getElementById("signup").hidden = true;
    document.getElementById("first-use").hidden = false;
    onramp.page("Welcome", { path: location.pathname });
  });

  document.querySelectorAll("button.step").forEach(function (button) {
    button.addEventListener("click", function () {
      onramp.track("onboarding_step_completed", {
        step_id: Number(button.dataset.stepId), step_key: button.dataset.stepKey, step_name: button.textContent,
      });
      button.disabled = true;
      button.classList.add("done");
    });
  });

  document.querySelectorAll("button.feature").forEach(function (button) {
    button.addEventListener("click", function () {
      onramp.track("feature_used", { feature: button.dataset.feature });
    });
  });

  // The last event before the page goes away: the way analytics.js' trackLink does it, navigate once the SDK
  // holds the event, or after 300 ms at most. The request then outlives the page (a keepalive fetch or a
  // beacon), or the SDK's persisted queue sends it from the next page.
  var workspace = document.getElementById("open-workspace");
  workspace.href = "/workspace.html" + location.search;
  workspace.addEventListener("click", function (event) {
    event.preventDefault();
    var href = workspace.href;
    var left = false;
    function leave() {
      if (!left) { left = true; location.href = href; }
    }
    onramp.track("feature_used", { feature: "workspace" }, leave);
    setTimeout(leave, 300);
  });
})();
