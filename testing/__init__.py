"""What the tests and the benchmark share: the harness, not tests (pre-commit's `testing/`).

- paths: the repository's root and its example policies;
- binaries: need_binary, a missing server skipped on a laptop and a failure under CI=true;
- processes: free ports, starting a server and waiting until it listens, stopping it;
- upstream: the application behind every test server;
- servers: every target's server builds and contexts as kinds, served around plans
  (each target's own wrapper configs are in corsgen.targets.NAME_serving);
- client and intents: a request to a served policy, and what each example policy means;
- verdicts: a test's table of verdicts, compared whole (the conformance and browser tests);
- policies: policies and values at corsgen's limits;
- bounded: corsgen run under a memory cap and a time limit;
- snapshots: a directory's whole state, to show a command changed nothing;
- flawed and flawed_servers: the hand-written flawed configs `corsgen probe` must see through;
- model_diff and corpus: routing models held to their real servers, and each corpus of
  hand-written configs served as its server serves it (the model tests, the probe-agreement test
  and the import round trip);
- envoy_gateway: Envoy Gateway's published translation of a CORS filter into Envoy's own, to
  serve what a gateway running it answers (someone else's translation: equipment, not corsgen).

No test module imports another: what two of them share lives here.
"""
