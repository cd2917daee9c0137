'use client';

import dynamic from 'next/dynamic';

/** The admin screens load on demand: they are never part of the chat's first load. */
export const AdminUsersLazy = dynamic(() => import('@/components/settings').then((m) => m.AdminUsers), {
  ssr: false,
});
