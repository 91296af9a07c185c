// Starts Swagger UI for the tokend API. Kept out of index.html so that the
// page works under a Content-Security-Policy without 'unsafe-inline' scripts.
(function () {
	"use strict";

	var root = document.getElementById("swagger-ui");
	// Resolve the spec URL against this page, so that the spec -- and, as it
	// declares no "servers", every "Try it out" request -- goes to the origin
	// that served this page.
	var specURL = new URL(root.getAttribute("data-spec-url"), window.location.href).href;

	// Signed in to the console in this tab? Then the API reference is
	// already authorized with that credential, as Wallarm's API console
	// takes its authentication from the Wallarm Console. It is read from
	// the console's session storage (this tab only): never a cookie, never
	// local storage.
	function consoleCredential() {
		try {
			var c = JSON.parse(window.sessionStorage.getItem("tokend.console.credential") || "null");
			return c && typeof c.value === "string" ? c.value : "";
		} catch (e) {
			return "";
		}
	}

	// The spec is served as JSON encoded from Go maps, which sorts the
	// security schemes by name and so offers the legacy pair and Bearer
	// before X-WallarmApi-Token. The Authorize dialog lists them in the
	// order of the spec's own top-level security requirement: the main
	// scheme first.
	function mainSchemeFirst(spec) {
		var schemes = spec && spec.components && spec.components.securitySchemes;
		if (!schemes) {
			return spec;
		}
		var ordered = {};
		(spec.security || []).forEach(function (requirement) {
			Object.keys(requirement).forEach(function (name) {
				if (schemes[name] && !ordered[name]) {
					ordered[name] = schemes[name];
				}
			});
		});
		Object.keys(schemes).forEach(function (name) {
			if (!ordered[name]) {
				ordered[name] = schemes[name];
			}
		});
		spec.components.securitySchemes = ordered;
		return spec;
	}

	function start(spec) {
		var options = {
			dom_id: "#swagger-ui",
			deepLinking: true,
			// A pasted token lives in this page only: not persisted to
			// localStorage, where any script of the origin could read it later.
			persistAuthorization: false,
			onComplete: function () {
				var token = consoleCredential();
				if (token) {
					window.ui.preauthorizeApiKey("TokenHeader", token);
				}
			},
			tryItOutEnabled: false,
			// The default is the public validator at validator.swagger.io; null turns
			// the validator badge off so that the page never calls out.
			validatorUrl: null,
			// Plain BaseLayout: no standalone preset, no top bar with a URL box.
			presets: [SwaggerUIBundle.presets.apis],
			layout: "BaseLayout"
		};
		if (spec) {
			options.spec = spec;
		} else {
			options.url = specURL;
		}
		window.ui = SwaggerUIBundle(options);
	}

	fetch(specURL, { credentials: "omit", headers: { Accept: "application/json" } })
		.then(function (res) {
			if (!res.ok) {
				throw new Error("spec: " + res.status);
			}
			return res.json();
		})
		.then(function (spec) { start(mainSchemeFirst(spec)); })
		// Swagger UI then fetches (and reports the failure) by itself.
		.catch(function () { start(null); });
})();
