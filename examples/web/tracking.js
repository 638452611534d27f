// Load the browser SDK this page was asked for (?sdk=segment|rudderstack, ?delivery=...), from this server's
// copy of the npm packages (never a CDN), pointed at the Onramp collector. Exposes one small API, window.onramp,
// so app.js reads the same whichever SDK is behind it:
//   onramp.page(name, properties)  onramp.track(event, properties[, done])  onramp.identify(userId, traits)
//   (done: called once the SDK holds the event, so a page about to navigate knows it will leave with it)
//   onramp.calls     what the page asked the SDK to send, in order
//   onramp.failures  deliveries the SDK itself reports as failed
// ?sdk=none loads no SDK (the calls are only recorded): a page reached that way cannot deliver anything late.
(function () {
  "use strict";
  var cfg = window.ONRAMP_CONFIG;
  var query = new URLSearchParams(location.search);
  var sdk = query.get("sdk") || cfg.sdk;
  var delivery = query.get("delivery") || (sdk === "rudderstack" ? "xhr" : "batching");
  var collector = new URL(cfg.collectorUrl);

  var onramp = { sdk: sdk, delivery: delivery, calls: [], failures: [], collectorUrl: cfg.collectorUrl };
  var queue = [];
  var client = null;
  window.onramp = onramp;

  function loadScript(src) {
    return new Promise(function (resolve, reject) {
      var script = document.createElement("script");
      script.src = src;
      script.onload = resolve;
      script.onerror = function () { reject(new Error("could not load " + src)); };
      document.head.appendChild(script);
    });
  }

  function record(call) {
    onramp.calls.push(call);
    var counter = document.getElementById("sent-count");
    if (counter) counter.textContent = String(onramp.calls.length);
  }

  function failed(reason) {
    onramp.failures.push(String(reason));
    var counter = document.getElementById("failed-count");
    if (counter) counter.textContent = String(onramp.failures.length);
  }

  // ---- Segment analytics.js (@segment/analytics-next), the npm package's UMD build
  function loadSegment() {
    // analytics.js fetches its lazily loaded chunks from <_cdn>/analytics-next/bundles/: this server.
    window.analytics = { _cdn: location.origin + "/vendor/segment" };
    var segmentIo = {
      apiHost: collector.host + "/v1",           // the collector, not api.segment.io
      protocol: collector.protocol.replace(":", ""),
      deliveryStrategy: delivery === "batching"
        // /v1/b. keepalive on every batch, not only the one sent at page close: a batch in flight when the page
        // goes away would otherwise be aborted by the browser, counted as failed, and sent again
        ? { strategy: "batching", config: { size: 5, timeout: 500, keepalive: true } }
        : { strategy: "standard", config: { keepalive: true } },       // /v1/t, /v1/i...; keepalive outlives the page
    };
    return loadScript("/vendor/segment/analytics-next/bundles/index.js").then(function () {
      return window.AnalyticsNext.AnalyticsBrowser.load(
        {
          writeKey: cfg.writeKey,
          cdnURL: location.origin + "/vendor/segment",
          // the settings the Segment CDN would serve: given here, so nothing is fetched from segment.com
          cdnSettings: { integrations: { "Segment.io": { apiKey: cfg.writeKey, apiHost: segmentIo.apiHost } } },
        },
        { integrations: { "Segment.io": segmentIo } }
      );
    }).then(function (loaded) {
      var analytics = loaded[0];
      analytics.on("error", function (error) {
        if (error && error.code === "delivery_failure") failed(error.reason);
      });
      function check(ctx) {
        var failure = ctx && ctx.failedDelivery && ctx.failedDelivery();
        if (failure) failed(failure.reason);
      }
      return {
        page: function (name, properties) { analytics.page(name, properties).then(check); },
        track: function (event, properties, done) {
          analytics.track(event, properties).then(check).finally(done || function () {});
        },
        identify: function (userId, traits) { analytics.identify(userId, traits).then(check); },
        anonymousId: function () { return analytics.user().anonymousId(); },
      };
    });
  }

  // ---- RudderStack (@rudderstack/analytics-js v3), the npm package's bundled UMD build (plugins included)
  function loadRudderStack() {
    return loadScript("/vendor/rudderstack/index.js").then(function () {
      var analytics = new window.rudderanalytics.RudderAnalytics();
      return new Promise(function (resolve) {
        analytics.load(cfg.writeKey, cfg.collectorUrl, {
          // the source settings RudderStack's control plane would serve: given here, nothing is fetched
          getSourceConfig: function () {
            return { source: { id: "onramp-example-web", name: "Onramp example page", workspaceId: "onramp",
                               enabled: true, config: {}, destinations: [] } };
          },
          useBeacon: delivery === "beacon",                 // /beacon/v1/batch, flushed on page close
          beaconQueueOptions: { maxItems: 5, flushQueueInterval: 1000 },
          polyfillIfRequired: false,
          logLevel: "WARN",
          onLoaded: function () {
            resolve({
              page: function (name, properties) { analytics.page(name, properties); },
              track: function (event, properties, done) { analytics.track(event, properties, done); },
              identify: function (userId, traits) { analytics.identify(userId, traits); },
              anonymousId: function () { return analytics.getAnonymousId(); },
            });
          },
        });
      });
    });
  }

  var loaders = { segment: loadSegment, rudderstack: loadRudderStack, none: function () { return Promise.resolve(null); } };
  if (!loaders[sdk]) sdk = onramp.sdk = "segment";
  onramp.ready = loaders[sdk]().then(function (loaded) {
    client = loaded;
    if (client) queue.splice(0).forEach(function (call) { client[call[0]].apply(null, call[1]); });
    return onramp;
  }).catch(function (error) {
    failed("the " + sdk + " SDK did not load: " + error.message);
    throw error;
  });

  ["page", "track", "identify"].forEach(function (method) {
    onramp[method] = function () {
      var args = Array.prototype.slice.call(arguments);
      record({ type: method, name: args[0] });
      if (client) client[method].apply(null, args); else queue.push([method, args]);
    };
  });
  onramp.anonymousId = function () { return client ? client.anonymousId() : null; };
})();
