"""A Kubernetes API emulator for the operator tests: kmock with a few fix-ups.

Run as its own process (``python tests/operator/emulator.py CRD_DIR``): it binds
127.0.0.1 on a free port and prints ``PORT <n>`` once it serves. kmock 0.8 keeps
objects in memory and speaks enough of the API for kopf and the kubernetes
client, except for the gaps that this subclass fills:

1. no ``metadata.uid``/``creationTimestamp`` on create, so ``kopf.adopt()`` builds
   owner references that the kubernetes client rejects;
2. ``metadata.resourceVersion`` never changes, so kopf cannot tell its own
   patches from new events and re-runs create handlers (409 on the children);
3. core discovery answers ``groupVersion: "/v1"`` and lists carry no ``kind``;
4. (found here) creates answer 200 instead of 201, which the kubernetes client's
   CustomObjectsApi turns into ``None``; ``metadata.namespace`` is not set, and
   ``metadata.generateName`` is ignored (kopf's Events use it: the second one clashes);
5. every request is kept, and each new one is matched against all of them: a request
   costs more the longer the session runs, so served requests are dropped.

The custom resources are declared from the real CRD files so the tests follow
them (POSTing a CRD to kmock does not register it).
"""

from __future__ import annotations

import asyncio
import datetime
import itertools
import pathlib
import sys
import uuid
from typing import Any

import aiohttp.web
import kmock
import yaml
from kmock._internal import enums, rendering


class FixedEmulator(kmock.KubernetesEmulator):  # type: ignore[misc]
    _rv = itertools.count(1000)

    async def _handle(self, request: rendering.Request) -> aiohttp.web.StreamResponse:
        try:
            return await self._handle_fixed(request)
        finally:
            self._forget(request)

    def _forget(self, request: rendering.Request) -> None:
        """Drop a served request from kmock's records (fix-up 5).

        kmock keeps every request for assertions, and matching each new one to its reaction
        walks that whole record: the cost of a request grew with the session's request count
        (a Secret GET went from 11 ms to 250 ms over test_operator.py alone, and later tests
        timed out waiting for a busy operator). Nothing here asserts on kmock's records."""
        for records in [self._requests, *(payload._requests for payload in self._payloads)]:
            records[:] = [r for r in records if r is not request]

    async def _handle_fixed(self, request: rendering.Request) -> aiohttp.web.StreamResponse:
        data = request.data if isinstance(request.data, dict) else None
        if request.resource is not None and data is not None:
            meta = data.setdefault("metadata", {})
            if request.action == enums.action.CREATE:
                if request.namespace:
                    meta["namespace"] = request.namespace
                if not meta.get("name") and meta.get("generateName"):
                    meta["name"] = meta["generateName"] + uuid.uuid4().hex[:5]
                meta.setdefault("uid", str(uuid.uuid4()))
                meta.setdefault(
                    "creationTimestamp",
                    datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
                )
                meta["generation"] = 1
            if request.action in (enums.action.CREATE, enums.action.UPDATE):
                meta["resourceVersion"] = str(next(self._rv))
                # The real API server bumps generation on spec changes only.
                if request.action == enums.action.UPDATE and "spec" in data and not request.subresource:
                    key = (request.resource, request.namespace, request.name)
                    if key in self.objects and not self.objects[key].deleted:
                        old = self.objects[key].get("metadata", {}).get("generation", 1)
                        meta["generation"] = old + 1
        response: aiohttp.web.StreamResponse = await super()._handle(request)
        # The real API server answers 201 to a create; the kubernetes client maps only 201
        # to a body for custom objects (and returns None for a 200).
        if request.action == enums.action.CREATE and response.status == 200 and not response.prepared:
            response.set_status(201)
        return response

    async def _serve_version(self, request: rendering.Request) -> Any:
        reply = await super()._serve_version(request)
        reply["groupVersion"] = reply["groupVersion"].lstrip("/")
        return reply

    async def _serve_list(self, request: rendering.Request) -> Any:
        reply = await super()._serve_list(request)
        assert request.resource is not None
        info = self.resources[request.resource]
        group, version = request.resource.group, request.resource.version
        reply["apiVersion"] = f"{group}/{version}" if group else version
        reply["kind"] = f"{info.kind or request.resource.plural.capitalize()}List"
        reply["metadata"] = {"resourceVersion": str(next(self._rv))}
        return reply


def build(crd_dir: pathlib.Path) -> FixedEmulator:
    emulator = FixedEmulator()
    verbs = ["get", "list", "watch", "create", "update", "patch", "delete"]
    emulator.resources["v1/secrets"] = {"kind": "Secret", "namespaced": True, "verbs": verbs}
    emulator.resources["v1/events"] = {"kind": "Event", "namespaced": True, "verbs": verbs}
    emulator.resources["v1/namespaces"] = {"kind": "Namespace", "namespaced": False, "verbs": verbs}
    for plural, kind in (("deployments", "Deployment"), ("statefulsets", "StatefulSet")):
        emulator.resources[f"apps/v1/{plural}"] = {"kind": kind, "namespaced": True, "verbs": verbs}
    emulator.resources["discovery.k8s.io/v1/endpointslices"] = {
        "kind": "EndpointSlice",
        "namespaced": True,
        "verbs": verbs,
    }
    for path in sorted(crd_dir.glob("*.yaml")):
        crd = yaml.safe_load(path.read_text())
        spec = crd["spec"]
        for version in spec["versions"]:
            emulator.resources[f"{spec['group']}/{version['name']}/{spec['names']['plural']}"] = {
                "kind": spec["names"]["kind"],
                "singular": spec["names"]["singular"],
                "shortnames": spec["names"].get("shortNames", []),
                "namespaced": spec["scope"] == "Namespaced",
                "verbs": verbs,
                "subresources": list(version.get("subresources", {})),
            }
    return emulator


async def serve(crd_dir: pathlib.Path) -> None:
    emulator = build(crd_dir)
    async with emulator, kmock.Server(emulator) as server:
        print(f"PORT {server.port}", flush=True)
        await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(serve(pathlib.Path(sys.argv[1])))
