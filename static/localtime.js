// labmail's only script, and an optional one: it shows the dates of the
// inbox in the reader's own language and time zone.  Without it, the
// page shows them in UTC.
"use strict";
document.addEventListener("DOMContentLoaded", function () {
	var fmt = new Intl.DateTimeFormat(navigator.language, {
		dateStyle: "medium", timeStyle: "short"
	});
	document.querySelectorAll("time[datetime]").forEach(function (t) {
		var d = new Date(t.getAttribute("datetime"));
		if (!isNaN(d.getTime())) {
			t.title = t.textContent;
			t.textContent = fmt.format(d);
		}
	});
});
