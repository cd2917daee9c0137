export default function NewChatPage() {
  return null;
}
