// The shop's catalogue: static here, as a store's would come from its own backend.
module.exports = [
  { id: 'su-001', name: 'Peony silk Qipao', category: 'qipao', price: 1299 },
  { id: 'su-002', name: 'Ink-wash Qipao', category: 'qipao', price: 1599 },
  { id: 'su-004', name: 'Lotus brocade jacket', category: 'jackets', price: 1899 },
];
