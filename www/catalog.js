// The demo shop's catalogue: static, as a storefront's would come from its own backend.
export const PRODUCTS = [
  { id: 'su-001', name: 'Peony silk Qipao', category: 'qipao', price: 1299, color: '#b8323c', desc: 'Hand-embroidered peonies on Suzhou silk, for weddings and Spring Festival dinners.' },
  { id: 'su-002', name: 'Ink-wash Qipao', category: 'qipao', price: 1599, color: '#2f3b4c', desc: 'A landscape in ink on pale silk; a quiet piece for gallery evenings.' },
  { id: 'su-003', name: 'Everyday cotton Qipao', category: 'qipao', price: 999, color: '#5b7f6a', desc: 'Breathable cotton and a modern cut, for the office.' },
  { id: 'su-004', name: 'Lotus brocade jacket', category: 'jackets', price: 1899, color: '#8a5a2b', desc: 'Brocade with lotus medallions, to wear over a Qipao.' },
  { id: 'su-005', name: 'Pearl frog buttons', category: 'accessories', price: 199, color: '#d8cfc0', desc: 'Six knotted buttons with freshwater pearls.' },
  { id: 'su-006', name: 'Silk fan', category: 'accessories', price: 299, color: '#c9a227', desc: 'Sandalwood ribs and a painted silk leaf.' },
];
