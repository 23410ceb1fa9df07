"""The stack's Glue database and table and its Athena workgroup, made in the local account from the template.

moto 5.2.5's CloudFormation skips AWS::Glue::Database, AWS::Glue::Table and AWS::Athena::WorkGroup (it does
not model them), so a local stack would have no catalog for `query` to name. After the stack is created or
updated, `apply` reads those resources from the deployed (processed) template, resolves the few intrinsics
they use (Ref, Fn::Sub, Fn::Join, Fn::Split, the pseudo parameters) against the stack (deployed.py), and creates them
through the Glue and Athena APIs, as CloudFormation would (docs/sql.md, "Local mode"). CloudFormation's
properties carry the API's own names: DatabaseInput is CreateDatabase's, TableInput CreateTable's, and
WorkGroupConfiguration CreateWorkGroup's Configuration.

Applying again brings them to the template: the table is updated (UpdateTable takes the same TableInput) and
the workgroup replaced (UpdateWorkGroup takes a differently shaped ConfigurationUpdates; locally nothing
hangs on a workgroup's identity).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from watchlist_workstation.local.deployed import Intrinsics, read_stack

DATABASE, TABLE, WORKGROUP = "AWS::Glue::Database", "AWS::Glue::Table", "AWS::Athena::WorkGroup"


class UnresolvedCatalog(RuntimeError):
    """The template's catalog resources use an intrinsic or a reference this module does not resolve."""


@dataclass(frozen=True)
class Catalog:
    """What `apply` made: the Glue database and table names and the Athena workgroup's."""

    database: str
    table: str
    workgroup: str


def declared(cloudformation: Any, stack_name: str) -> dict[str, tuple[str, dict[str, Any]]]:
    """The stack's catalog resources, by logical id: (type, properties with every intrinsic resolved)."""
    stack = read_stack(cloudformation, stack_name)
    resolver = _CatalogIntrinsics(stack)
    wanted = (DATABASE, TABLE, WORKGROUP)
    return {
        lid: (r["Type"], resolver.resolve(r.get("Properties", {})))
        for lid, r in stack.resources.items()
        if r.get("Type") in wanted
    }


def names(cloudformation: Any, stack_name: str) -> Catalog:
    """The database, table and workgroup names the template gives this stack (what `apply` creates)."""
    return _names(declared(cloudformation, stack_name), stack_name)


def _names(found: dict[str, tuple[str, dict[str, Any]]], stack_name: str) -> Catalog:
    by_type: dict[str, list[dict[str, Any]]] = {}
    for kind, properties in found.values():
        by_type.setdefault(kind, []).append(properties)
    if any(len(by_type.get(kind, [])) != 1 for kind in (DATABASE, TABLE, WORKGROUP)):
        raise UnresolvedCatalog(f"stack {stack_name} does not declare one Glue database, table and Athena workgroup")
    return Catalog(
        database=name_of(DATABASE, by_type[DATABASE][0]),
        table=name_of(TABLE, by_type[TABLE][0]),
        workgroup=name_of(WORKGROUP, by_type[WORKGROUP][0]),
    )


def name_of(kind: str, properties: dict[str, Any]) -> str:
    """A catalog resource's name, where its type's properties hold it (its Ref answers with it)."""
    if kind == DATABASE:
        return str(properties["DatabaseInput"]["Name"])
    if kind == TABLE:
        return str(properties["TableInput"]["Name"])
    return str(properties["Name"])


def apply(cloudformation: Any, glue: Any, athena: Any, stack_name: str) -> Catalog:
    """Create (or bring up to date) the stack's Glue database and table and its Athena workgroup."""
    found = declared(cloudformation, stack_name)
    ordered = sorted(found.values(), key=lambda item: (DATABASE, TABLE, WORKGROUP).index(item[0]))
    for kind, properties in ordered:
        if kind == DATABASE:
            _database(glue, properties)
        elif kind == TABLE:
            _table(glue, properties)
        else:
            _workgroup(athena, properties)
    return _names(found, stack_name)


def _database(glue: Any, properties: dict[str, Any]) -> None:
    try:
        glue.create_database(CatalogId=properties["CatalogId"], DatabaseInput=properties["DatabaseInput"])
    except ClientError as exc:
        if _code(exc) != "AlreadyExistsException":
            raise
        glue.update_database(
            CatalogId=properties["CatalogId"],
            Name=properties["DatabaseInput"]["Name"],
            DatabaseInput=properties["DatabaseInput"],
        )


def _table(glue: Any, properties: dict[str, Any]) -> None:
    where = {"CatalogId": properties["CatalogId"], "DatabaseName": properties["DatabaseName"]}
    try:
        glue.create_table(**where, TableInput=properties["TableInput"])
    except ClientError as exc:
        if _code(exc) != "AlreadyExistsException":
            raise
        glue.update_table(**where, TableInput=properties["TableInput"])


def _workgroup(athena: Any, properties: dict[str, Any]) -> None:
    name = properties["Name"]
    existing = {group["Name"] for group in athena.list_work_groups().get("WorkGroups", [])}
    if name in existing:
        athena.delete_work_group(WorkGroup=name, RecursiveDeleteOption=True)
    athena.create_work_group(
        Name=name,
        Description=properties.get("Description", ""),
        Configuration=properties.get("WorkGroupConfiguration", {}),
        **({"Tags": properties["Tags"]} if properties.get("Tags") else {}),
    )


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


class _CatalogIntrinsics(Intrinsics):
    error = UnresolvedCatalog
    where = "a catalog resource"

    def unknown_ref(self, name: str) -> str:
        kind = self.kind(name)
        if kind not in (DATABASE, TABLE, WORKGROUP):
            return super().unknown_ref(name)
        # Not created by moto's CloudFormation: the name this module gives it is the one its Ref returns.
        return name_of(kind, self.resolve(self.stack.resources[name].get("Properties", {})))
