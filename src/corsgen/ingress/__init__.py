"""ingress-nginx Ingress manifests, for `corsgen import`: the manifests read (manifests.py), what
ingress-nginx enforces from their CORS annotations and where that differs from their text
(enforced.py), the answers of its CORS block (block.py), ingress2gateway's translation of the
same annotations (translation.py), and the policy import writes for each Ingress (importing.py).

Modelled on ingress-nginx controller v1.13.9, the last release of the v1.13 line (2026-03-19);
the CORS parser, validators and template are the same in v1.14.5 and v1.15.1, released with it.
"""
