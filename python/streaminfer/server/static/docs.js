// Renders /openapi.json: operations by tag, their bodies, responses and errors, and the
// schemas they refer to. Plain DOM, no dependencies; text is inserted as text, never as HTML.
"use strict";

const el = (tag, attrs = {}, ...children) => {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, value);
  for (const child of children) node.append(child);
  return node;
};

// `code` spans in the document's text; everything else stays plain text.
const prose = (text) => {
  const out = el("div");
  for (const para of (text || "").split(/\n\s*\n/)) {
    const p = el("p");
    para.split(/(`[^`]*`)/).forEach((part) => {
      p.append(part.startsWith("`") && part.endsWith("`") ? el("code", {}, part.slice(1, -1)) : part);
    });
    out.append(p);
  }
  return out;
};

const refName = (ref) => ref.split("/").pop();

function typeOf(schema) {
  if (!schema) return "any";
  if (schema.$ref) return refName(schema.$ref);
  if (schema.const !== undefined) return JSON.stringify(schema.const);
  if (schema.enum) return schema.enum.map((v) => JSON.stringify(v)).join(" | ");
  if (schema.anyOf) return schema.anyOf.map(typeOf).join(" | ");
  if (schema.allOf) return schema.allOf.map(typeOf).join(" & ");
  if (Array.isArray(schema.type)) return schema.type.join(" | ");
  if (schema.type === "array") return typeOf(schema.items) + "[]";
  if (schema.type === "object" && schema.additionalProperties && schema.additionalProperties !== true)
    return "{string: " + typeOf(schema.additionalProperties) + "}";
  return schema.type || "any";
}

function fieldTable(schema) {
  const props = schema.properties || {};
  if (!Object.keys(props).length) return el("p", { class: "muted" }, typeOf(schema));
  const required = new Set(schema.required || []);
  const table = el("table", {}, el("tr", {}, el("th", {}, "field"), el("th", {}, "type"), el("th", {}, "")));
  for (const [name, prop] of Object.entries(props)) {
    const type = el("td", {}, el("code", {}, typeOf(prop)));
    const what = el("td", {}, required.has(name) ? "required. " : "", prop.description || "");
    table.append(el("tr", {}, el("td", {}, el("code", {}, name)), type, what));
  }
  return table;
}

function operation(path, method, op) {
  const box = el("details", { id: op.operationId });
  box.append(el("summary", {}, el("span", { class: "method " + method }, method.toUpperCase()),
    el("code", {}, path), " ", op.summary || ""));
  if (op.description) box.append(prose(op.description));
  const body = op.requestBody && op.requestBody.content["application/json"];
  if (body) box.append(el("h4", {}, "Request body: ", el("code", {}, typeOf(body.schema))));
  for (const [status, response] of Object.entries(op.responses)) {
    const kinds = Object.entries(response.content || {}).map(([type, c]) => type + " " + typeOf(c.schema));
    box.append(el("h4", {}, status + " ", el("span", { class: "muted" }, kinds.join(", "))));
    if (status !== "200") box.append(prose(response.description.replaceAll("\n- ", "\n\n")));
  }
  return box;
}

async function main() {
  const response = await fetch("/openapi.json");
  const doc = await response.json();
  document.getElementById("info").replaceChildren(
    el("span", { class: "muted" }, "version " + doc.info.version + " · "),
    el("a", { href: "/openapi.json" }, "openapi.json"));
  const ops = document.getElementById("ops");
  ops.append(prose(doc.info.description));
  const byTag = new Map();
  for (const [path, methods] of Object.entries(doc.paths)) {
    for (const [method, op] of Object.entries(methods)) {
      const tag = (op.tags || ["other"])[0];
      if (!byTag.has(tag)) byTag.set(tag, []);
      byTag.get(tag).push(operation(path, method, op));
    }
  }
  const toc = document.getElementById("toc");
  for (const [tag, boxes] of byTag) {
    const id = "tag-" + tag.replaceAll(" ", "-");
    toc.append(el("a", { href: "#" + id }, tag));
    ops.append(el("h2", { id }, tag), ...boxes);
  }
  toc.append(el("a", { href: "#schemas" }, "schemas"));
  const schemas = document.getElementById("schemas");
  schemas.append(el("h2", {}, "Schemas"));
  for (const [name, schema] of Object.entries(doc.components.schemas)) {
    schemas.append(el("h3", { id: "schema-" + name }, name), prose(schema.description || ""), fieldTable(schema));
  }
}

main().catch((err) => {
  document.getElementById("info").textContent = "Could not load /openapi.json: " + err;
});
