// An HTML form generated from an action's JSON Schema (as pydantic writes it), and the action
// read back from it. Each field is a "control": {element, read(), write(value), path}. read()
// returns undefined for an empty optional field, which is then left out (the server's default).
// Values are checked by the server only (the form has novalidate): its errors are shown at
// their fields.

/** A value the form cannot turn into JSON (e.g. malformed JSON in a JSON field). */
export class FormError extends Error {
  constructor(path, message) {
    super(`${path.join(".") || "action"}: ${message}`);
    this.errors = [{ loc: path, msg: message }];
  }
}

/** Builds the form of `schema` into `container`; returns {read(), write(action), showErrors(errors)}. */
export function buildForm(schema, container) {
  const root = objectControl(schema, schema, [], true);
  container.replaceChildren(...root.element.children);
  return {
    read: () => root.read(),
    write: (action) => root.write(action),
    showErrors: (errors) => showErrors(container, errors),
  };
}

function resolve(node, root) {
  let resolved = node || {};
  while (resolved.$ref) {
    const target = resolved.$ref.replace(/^#\//, "").split("/").reduce((at, key) => at?.[key], root);
    const { $ref, ...rest } = resolved;
    resolved = { ...target, ...rest };
  }
  if (resolved.allOf?.length === 1) {
    const { allOf, ...rest } = resolved;
    return { ...resolve(allOf[0], root), ...rest };
  }
  return resolved;
}

/** The node without the "null" branch of an Optional[X]. */
function nonNull(node, root) {
  const options = (node.anyOf || node.oneOf || []).map((option) => resolve(option, root));
  const kept = options.filter((option) => option.type !== "null");
  if (kept.length === options.length) return node;
  const { anyOf, oneOf, ...rest } = node;
  return kept.length === 1 ? { ...kept[0], ...rest } : { ...rest, anyOf: kept };
}

const SCALARS = new Set(["string", "integer", "number", "boolean"]);

function kindOf(node, root) {
  const options = (node.anyOf || []).map((option) => resolve(option, root));
  if (node.enum || "const" in node || (options.length && options.every((o) => o.enum || "const" in o))) {
    return "choice";
  }
  if (options.length && options.every((o) => SCALARS.has(o.type))) return "scalar";
  if (node.type === "object" && node.properties) return "object";
  if (["boolean", "integer", "number", "string"].includes(node.type)) return node.type;
  if (node.type === "array" && SCALARS.has(resolve(node.items, root).type)) return "list";
  return "json";
}

function control(node, root, path, required) {
  const field = nonNull(resolve(node, root), root);
  const kind = kindOf(field, root);
  if (kind === "object") return objectControl(field, root, path, required);
  const make = { choice: choiceControl, boolean: booleanControl, integer: numberControl, number: numberControl,
    string: stringControl, scalar: scalarControl, list: listControl, json: jsonControl }[kind];
  const input = make(field, root, path, required);
  input.element.id = fieldId(path);
  const wrapper = labelled(field, path, required, input.element);
  const write = (value) => input.write(value === undefined ? field.default : value);
  write(undefined);
  return { ...input, write, element: wrapper, path };
}

function fieldId(path) {
  return `field-${path.join(".")}`;
}

function labelled(field, path, required, input) {
  const wrapper = element("div", { className: "field", dataset: { path: path.join(".") } });
  const label = element("label", { htmlFor: input.id, textContent: field.title || path.at(-1) });
  if (required) label.append(element("span", { className: "required", textContent: " *", title: "required" }));
  wrapper.append(label, input);
  if (field.description) wrapper.append(element("small", { className: "hint", textContent: field.description }));
  wrapper.append(element("small", { className: "error-text" }));
  if (input.type === "checkbox") wrapper.classList.add("checkbox");
  return wrapper;
}

function element(tag, properties = {}) {
  const { dataset, ...rest } = properties;
  const created = Object.assign(document.createElement(tag), rest);
  Object.assign(created.dataset, dataset || {});
  return created;
}

function emptyIs(required, empty) {
  return required ? empty : undefined;
}

function objectControl(field, root, path, required) {
  const needed = new Set(field.required || []);
  const children = ordered(field.properties || {}, path).map(
    ([name, child]) => control(child, root, [...path, name], needed.has(name)));
  const fieldset = element(path.length ? "fieldset" : "div", { className: "object" });
  // An optional nested object is sent only when its checkbox is ticked (its fields' defaults
  // alone would otherwise make it present).
  const include = required ? null : element("input", { type: "checkbox", id: fieldId(path) });
  if (path.length) {
    const legend = element("legend");
    if (include) legend.append(include);
    legend.append(element("label", { htmlFor: include?.id ?? "", textContent: field.title || path.at(-1) }));
    if (required) legend.append(element("span", { className: "required", textContent: " *", title: "required" }));
    fieldset.append(legend);
    fieldset.dataset.path = path.join(".");
    fieldset.classList.add("field");
  }
  if (field.description && path.length) fieldset.append(element("small", { className: "hint", textContent: field.description }));
  fieldset.append(...children.map((child) => child.element));
  if (path.length) fieldset.append(element("small", { className: "error-text" }));
  const included = () => include === null || include.checked;
  const enable = () => { fieldset.classList.toggle("excluded", !included()); };
  include?.addEventListener("change", enable);
  enable();
  return {
    element: fieldset,
    path,
    read() {
      if (!included()) return undefined;
      return Object.fromEntries(children.map((child) => [child.path.at(-1), child.read()]).filter(([, v]) => v !== undefined));
    },
    write(value) {
      if (include) include.checked = value !== undefined && value !== null;
      enable();
      for (const child of children) child.write(value?.[child.path.at(-1)]);
    },
  };
}

/** The action's fields in the schema's order, but the base Action's free-form `metadata`
 * (inherited, so first in pydantic's order) last. */
function ordered(properties, path) {
  const entries = Object.entries(properties);
  if (path.length) return entries;
  return [...entries.filter(([name]) => name !== "metadata"), ...entries.filter(([name]) => name === "metadata")];
}

function choiceControl(field, root, path, required) {
  const options = field.enum || ("const" in field ? [field.const]
    : field.anyOf.map((o) => resolve(o, root)).flatMap((o) => o.enum || [o.const]));
  const select = element("select");
  if (!required && field.default == null) select.append(element("option", { value: "", textContent: "—" }));
  for (const value of options) {
    select.append(element("option", { value: JSON.stringify(value), textContent: String(value) }));
  }
  return {
    element: select,
    read: () => (select.value === "" ? undefined : JSON.parse(select.value)),
    write: (value) => { select.value = value === undefined ? "" : JSON.stringify(value); },
  };
}

function booleanControl() {
  const box = element("input", { type: "checkbox" });
  return { element: box, read: () => box.checked, write: (value) => { box.checked = Boolean(value); } };
}

function numberControl(field, root, path, required) {
  const input = element("input", { type: "number", step: field.type === "integer" ? "1" : "any" });
  const low = field.minimum ?? field.exclusiveMinimum;
  const high = field.maximum ?? field.exclusiveMaximum;
  if (low !== undefined) input.min = low;
  if (high !== undefined) input.max = high;
  return {
    element: input,
    read: () => (input.value === "" ? undefined : Number(input.value)),
    write: (value) => { input.value = value ?? ""; },
  };
}

const LONG_TEXT = 256;

function stringControl(field, root, path, required) {
  const long = field.maxLength === undefined || field.maxLength > LONG_TEXT;
  const input = long ? element("textarea", { rows: 2 }) : element("input", { type: "text" });
  if (field.maxLength !== undefined) input.maxLength = field.maxLength;
  return {
    element: input,
    read: () => (input.value === "" ? emptyIs(required, "") : input.value),
    write: (value) => { input.value = value ?? ""; },
  };
}

/** Text parsed as the first type of `types` it fits (e.g. "42" → 42 for `str | int`). */
function coerce(text, types) {
  if ((types.has("integer") || types.has("number")) && /^-?\d+$/.test(text)) return Number(text);
  if (types.has("number") && text.trim() !== "" && !Number.isNaN(Number(text))) return Number(text);
  if (types.has("boolean") && (text === "true" || text === "false")) return text === "true";
  return text;
}

function scalarControl(field, root, path, required) {
  const types = new Set(field.anyOf.map((o) => resolve(o, root).type));
  const input = element("input", { type: "text", placeholder: [...types].join(" or ") });
  return {
    element: input,
    read: () => (input.value === "" ? emptyIs(required, "") : coerce(input.value, types)),
    write: (value) => { input.value = value ?? ""; },
  };
}

function listControl(field, root, path, required) {
  const types = new Set([resolve(field.items, root).type]);
  const input = element("input", { type: "text", placeholder: "comma-separated, or a JSON list" });
  return {
    element: input,
    read() {
      const text = input.value.trim();
      if (text === "") return emptyIs(required, []);
      if (text.startsWith("[")) return parseJson(text, path);
      return text.split(",").map((item) => coerce(item.trim(), types));
    },
    write: (value) => { input.value = Array.isArray(value) ? value.join(", ") : ""; },
  };
}

function jsonControl(field, root, path) {
  const input = element("textarea", { rows: 2, placeholder: "JSON", spellcheck: false });
  return {
    element: input,
    read: () => (input.value.trim() === "" ? undefined : parseJson(input.value, path)),
    write: (value) => {
      const empty = value === undefined || value === null || (typeof value === "object" && !Object.keys(value).length);
      input.value = empty ? "" : JSON.stringify(value);
    },
  };
}

function parseJson(text, path) {
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new FormError(path, `not valid JSON (${error.message})`);
  }
}

/** Marks the fields named by pydantic's errors (their `loc` is relative to the action). */
function showErrors(container, errors) {
  for (const field of container.querySelectorAll("[aria-invalid]")) field.removeAttribute("aria-invalid");
  for (const text of container.querySelectorAll(".error-text")) text.textContent = "";
  for (const error of errors) {
    const wrapper = closestField(container, error.loc || []);
    if (!wrapper) continue;
    const input = wrapper.tagName === "FIELDSET" ? wrapper : wrapper.querySelector("input, select, textarea");
    input.setAttribute("aria-invalid", "true");
    const text = wrapper.querySelector(":scope > .error-text");
    if (text) text.textContent = [text.textContent, error.msg].filter(Boolean).join("; ");
  }
}

function closestField(container, loc) {
  for (let length = loc.length; length > 0; length--) {
    const path = loc.slice(0, length).join(".");
    const found = [...container.querySelectorAll(".field[data-path]")].find((f) => f.dataset.path === path);
    if (found) return found;
  }
  return null;
}
