"""`corsgen probe`: a bounded battery of requests to one live server, each answer judged by
corsgen.fetch against a policy's intent (conformance mode) or against what no origin should read
(scan mode). battery builds the requests, client sends them, judge turns answers into findings,
report prints them; checks is the table of what is checked."""
