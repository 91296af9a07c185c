// Starts Swagger UI for the tokend API. Kept out of index.html so that the
// page works under a Content-Security-Policy without 'unsafe-inline' scripts.
(function () {
	"use strict";

	var root = document.getElementById("swagger-ui");
	// Resolve the spec URL against this page, so that the spec -- and, as it
	// declares no "servers", every "Try it out" request -- goes to the origin
	// that served this page.
	var specURL = new URL(root.getAttribute("data-spec-url"), window.location.href).href;

	window.ui = SwaggerUIBundle({
		url: specURL,
		dom_id: "#swagger-ui",
		deepLinking: true,
		// Keep the token entered with "Authorize" across reloads (localStorage).
		persistAuthorization: true,
		tryItOutEnabled: false,
		// The default is the public validator at validator.swagger.io; null turns
		// the validator badge off so that the page never calls out.
		validatorUrl: null,
		// Plain BaseLayout: no standalone preset, no top bar with a URL box.
		presets: [SwaggerUIBundle.presets.apis],
		layout: "BaseLayout"
	});
})();
