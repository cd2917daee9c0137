import type { ReactNode } from 'react';

/**
 * A scrollable table with a header row of column names. `action` names a last column of buttons: the name is
 * visually hidden but still read out as that column's header. The rows (`<tr>`) are the children.
 */
export function DataTable({
  columns,
  action,
  label,
  children,
}: {
  columns: string[];
  action?: string | undefined;
  label?: string | undefined;
  children: ReactNode;
}) {
  return (
    <div className="table-wrap">
      <table className="table" aria-label={label}>
        <thead>
          <tr>
            {columns.map((column) => (
              <th key={column} scope="col">
                {column}
              </th>
            ))}
            {action === undefined ? null : (
              <th scope="col">
                <span className="visually-hidden">{action}</span>
              </th>
            )}
          </tr>
        </thead>
        <tbody>{children}</tbody>
      </table>
    </div>
  );
}
