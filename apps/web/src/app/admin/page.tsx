import { AdminUsersLazy } from './admin-users-lazy';

export default function AdminPage() {
  return <AdminUsersLazy />;
}
