// Package statuspage polls vendors' public status pages (Atlassian
// Statuspage, Google Cloud's incidents feed, any JSON document) so that an
// operator sees, next to a dependency's breaker, what the vendor says about
// itself. It is advisory: nothing here trips a breaker, fails over or
// changes a call; a page that cannot be read reports unknown.
//
// A Poller reads each configured page on its own interval through one
// advisory resilience.Dependency (retries, timeout, breaker, and an egress
// allowlist of exactly the pages' hosts), keeps the last Report of each,
// and exports holdline_status_page_indicator.
package statuspage
