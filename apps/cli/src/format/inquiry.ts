/** INQUIRY and VPD pages as aligned text and as the documented JSON shapes. */
import type { InquiryData, VpdPage } from '@usbscsi/core';
import { hexdump } from './hexdump.js';
import { fields, table } from './table.js';
import { hex0x } from '@usbscsi/core/hex';

export function inquiryFields(inq: InquiryData): [string, string][] {
  const flags = Object.entries(inq.flags)
    .filter(([, v]) => v === true || (typeof v === 'number' && v > 0))
    .map(([k, v]) => (typeof v === 'number' ? `${k}=${v}` : k));
  const rows: [string, string][] = [
    ['Vendor', inq.vendor],
    ['Product', inq.product],
    ['Revision', inq.revision],
    [
      'Type',
      `${inq.peripheralTypeName} (${hex0x(inq.peripheralType)})` +
        (inq.peripheralQualifier ? `, qualifier ${inq.peripheralQualifier}` : ''),
    ],
    ['Removable', inq.removable ? 'yes' : 'no'],
    ['Version', `${inq.versionName} (${hex0x(inq.version)}), response format ${inq.responseDataFormat}`],
  ];
  if (flags.length) rows.push(['Flags', flags.join(' ')]);
  if (inq.vendorSpecific) rows.push(['Vendor specific', inq.vendorSpecific]);
  return rows;
}

export function inquiryJson(inq: InquiryData): Record<string, unknown> {
  return {
    vendor: inq.vendor,
    product: inq.product,
    revision: inq.revision,
    peripheralQualifier: inq.peripheralQualifier,
    peripheralType: inq.peripheralType,
    peripheralTypeName: inq.peripheralTypeName,
    removable: inq.removable,
    version: inq.version,
    versionName: inq.versionName,
    responseDataFormat: inq.responseDataFormat,
    flags: inq.flags,
    vendorSpecific: inq.vendorSpecific ?? null,
  };
}

export function vpdJson(page: VpdPage): Record<string, unknown> {
  switch (page.kind) {
    case 'supported-pages':
      return { page: page.pageCode, kind: page.kind, supportedPages: page.supportedPages };
    case 'unit-serial-number':
      return { page: page.pageCode, kind: page.kind, serialNumber: page.serialNumber };
    case 'device-identification':
      return {
        page: page.pageCode,
        kind: page.kind,
        designators: page.designators.map((d) => ({
          association: d.associationName,
          type: d.typeName,
          codeSet: d.codeSetName,
          value: d.value,
          ...(d.vendorId ? { vendorId: d.vendorId } : {}),
          bytes: Buffer.from(d.bytes).toString('hex'),
        })),
      };
    case 'block-limits':
      return {
        page: page.pageCode,
        kind: page.kind,
        blockLimits: {
          ...page.blockLimits,
          maximumWriteSameLength: page.blockLimits.maximumWriteSameLength?.toString() ?? null,
        },
      };
    case 'raw':
      return { page: page.pageCode, kind: page.kind, data: Buffer.from(page.payload).toString('hex') };
  }
}

export function vpdHuman(page: VpdPage): string {
  const title = `VPD page ${hex0x(page.pageCode)}`;
  switch (page.kind) {
    case 'supported-pages':
      return fields([
        [title, 'supported VPD pages'],
        ['Pages', page.supportedPages.map((p) => hex0x(p)).join(' ')],
      ]);
    case 'unit-serial-number':
      return fields([
        [title, 'unit serial number'],
        ['Serial', page.serialNumber],
      ]);
    case 'device-identification':
      return (
        `${title}: device identification\n` +
        table([
          ['ASSOCIATION', 'TYPE', 'CODE SET', 'VALUE'],
          ...page.designators.map((d) => [d.associationName, d.typeName, d.codeSetName, d.value]),
        ])
      );
    case 'block-limits':
      return (
        `${title}: block limits\n` +
        fields(
          Object.entries(page.blockLimits).map(
            ([k, v]) => [k, typeof v === 'boolean' ? (v ? 'yes' : 'no') : String(v)] as [string, string],
          ),
        )
      );
    case 'raw':
      return `${title} (${page.payload.length} bytes, not decoded)\n` + hexdump(page.payload);
  }
}
